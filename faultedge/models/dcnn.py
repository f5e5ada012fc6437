"""Seed 003's DCNN on raw 1,024-sample windows, and its fixed-epoch training under class imbalance.

The paper gives the layers (Sec. III-C) but no padding, activation or training recipe: we use valid
convolutions with ReLU, Adam and a fixed number of epochs scored at the last epoch (no validation
split: with 16 windows per fault class there is nothing to spare, and no model is selected on test).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from faultedge.errors import FaultedgeError
from faultedge.train.losses import class_loss
from faultedge.train.loop import predict_logits


class DCNN(nn.Module):
    """conv 16x49 -> max-pool 4 -> conv 16x21 -> max-pool 4 -> fc 100 -> fc C (96,902 parameters at 1,024 / 10)."""

    def __init__(self, n_samples: int = 1024, n_classes: int = 10) -> None:
        super().__init__()
        length = ((n_samples - 48) // 4 - 20) // 4
        if length < 1:
            raise FaultedgeError(f"the DCNN needs windows of at least 164 samples, got {n_samples}")
        self.features = nn.Sequential(
            nn.Conv1d(1, 16, 49), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(16, 16, 21), nn.ReLU(), nn.MaxPool1d(4),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(16 * length, 100), nn.ReLU(), nn.Linear(100, n_classes))
        self.n_samples = n_samples

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x.unsqueeze(1) if x.dim() == 2 else x))


@dataclass(frozen=True)
class ImbalanceFit:
    """The imbalance study's recipe, the same for every loss so that only the loss differs."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise FaultedgeError(f"epochs and batch size must be >= 1 and lr > 0, got {self}")

    def to_dict(self) -> dict:
        return asdict(self)


def train_dcnn(x: np.ndarray, y: np.ndarray, loss_name: str, n_classes: int, cfg: ImbalanceFit, seed: int,
               progress: bool = True) -> tuple[DCNN, dict]:
    """Train a DCNN with the class loss `loss_name` on windows `x` (N, L); returns it (eval mode) and
    what happened (seconds of training, the loss per epoch). The seed fixes weights and batch order."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.int64))
    loss_fn = class_loss(loss_name, torch.bincount(yt, minlength=n_classes))
    model = DCNN(xt.shape[-1], n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history, start = [], time.perf_counter()
    bar = tqdm(range(cfg.epochs), desc=f"dcnn {loss_name}", disable=not progress, leave=False, unit="epoch")
    for _ in bar:
        model.train()
        order = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            loss = loss_fn(model(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        loss_fn.end_epoch()
        history.append(total / len(yt))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    seconds = time.perf_counter() - start
    return model.eval(), {"train_seconds": seconds, "loss_history": history, "epochs_run": cfg.epochs}


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """Predicted classes of windows `x` (N, L)."""
    return predict_logits(model, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).argmax(1).numpy()

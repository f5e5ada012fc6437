"""One training loop for every stage: seeded mini-batches, a progress bar, early stopping.

The loop keeps the weights of the epoch with the best validation accuracy (validation loss
breaks ties) and restores them at the end, so a run never ships an over-fitted last epoch. The
starting weights compete at the end too (as epoch -1), so a fine-tune never ends worse than its start.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from faultedge.errors import RunDirError

# epochs -> (epoch -> the learning rate's factor)
SCHEDULES: dict[str, Callable[[int], Callable[[int], float]]] = {
    "constant": lambda epochs: lambda epoch: 1.0,
    "cosine": lambda epochs: lambda epoch: 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs)),
}
# loss(model, inputs, targets, epoch) -> scalar tensor
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]
# epoch -> (inputs, targets) of the whole training set for that epoch (fresh noise allowed)
EpochData = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 12  # epochs without a better validation score before stopping
    schedule: str = "constant"  # the learning rate over the epochs: "constant", or "cosine" (from lr down to 0 at `epochs`)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise RunDirError(f"unknown learning-rate schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        if not self.lr > 0:
            raise RunDirError(f"the learning rate must be positive, got {self.lr}")
        if self.batch_size < 1 or self.epochs < 1:
            raise RunDirError(f"batch size and epochs must be at least 1, got batch {self.batch_size}, epochs {self.epochs}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    best_val_accuracy: float
    history: list[dict]


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]) if len(x) else torch.empty(0)


def fit(
    model: nn.Module,
    epoch_data: EpochData,
    val: tuple[torch.Tensor, torch.Tensor],
    loss_fn: LossFn,
    cfg: FitConfig,
    seed: int,
    desc: str = "train",
    progress: bool = True,
) -> FitResult:
    """Adam over seeded mini-batches with early stopping on validation accuracy."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, SCHEDULES[cfg.schedule](cfg.epochs))
    x_val, y_val = val
    start, start_state = _val_score(model, x_val, y_val), copy.deepcopy(model.state_dict())
    best = (-math.inf, math.inf)
    best_state = start_state
    best_epoch, stale, history = 0, 0, []
    bar = tqdm(range(cfg.epochs), desc=desc, disable=not progress, leave=False, unit="epoch")
    for epoch in bar:
        x, y = epoch_data(epoch)
        model.train()
        order = torch.randperm(len(y), generator=gen)
        total, count = 0.0, 0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            loss = loss_fn(model, x[idx], y[idx], epoch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        scheduler.step()
        val_acc, val_loss = _val_score(model, x_val, y_val)
        history.append({"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss, "val_accuracy": val_acc})
        bar.set_postfix(loss=f"{total / max(count, 1):.4f}", val_acc=f"{val_acc:.2f}")
        if (val_acc, -val_loss) > (best[0], -best[1]):
            best, best_epoch, stale = (val_acc, val_loss), epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    bar.close()
    # The starting weights compete after the epochs (early stopping itself runs as without them): a fine-tune
    # (LoRA, QAT) whose every epoch scores below its start on validation returns the start, best_epoch -1.
    if (start[0], -start[1]) > (best[0], -best[1]):
        best, best_epoch, best_state = start, -1, start_state
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch, len(history), best[0], history)


def _val_score(model: nn.Module, x_val: torch.Tensor, y_val: torch.Tensor) -> tuple[float, float]:
    """(accuracy %, cross-entropy) on the validation set: the early-stopping score, higher accuracy then lower loss."""
    logits = predict_logits(model, x_val)
    return float((logits.argmax(1) == y_val).double().mean()) * 100, float(nn.functional.cross_entropy(logits, y_val))


def as_tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.int64))

"""Parameter and multiply-accumulate counts, as the papers' tables report them."""

from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one inference on `example` (batch 1), over Conv1d/Conv2d/Linear layers.

    A module with a `macs_for_output(output)` method (a dynamic convolution, whose kernel is
    not a parameter) reports its own count.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if hasattr(module, "macs_for_output"):
            total += module.macs_for_output(output)
            return
        weight = module.weight
        if isinstance(module, nn.Linear):
            total += weight.numel() * (output.numel() // output.shape[-1])
        else:  # each output element costs (in_channels / groups) * kernel MACs
            total += output.numel() * weight[0].numel()

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)) or hasattr(m, "macs_for_output")]
    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            model(example)
            model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return total

"""Each epoch's training inputs, computed once for every stage of a run and one epoch ahead.

A run's stages (teacher, DKD student, LoRA, QAT) read the same seeded epochs: epoch e's noise,
speed and gain draws are the same whichever stage asks. Computing them is a fair share of an
epoch's time (resampling, noise and an FFT per window), so they are kept for the stages that
follow, and the next epoch is prepared on a worker thread while the current one trains (numpy
and torch release the GIL for the heavy parts, so the second core does the data work).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import torch

Tensors = tuple[torch.Tensor, torch.Tensor]


class EpochStore:
    """epoch -> (inputs, targets), made by `make(tag)`; `tag(epoch)` names the epochs that are the same data."""

    def __init__(self, make: Callable[[int], Tensors], tag: Callable[[int], int], keep: int = 100) -> None:
        self._make, self._tag, self._keep = make, tag, keep
        self._done: dict[int, Tensors] = {}
        self._pending: dict[int, Future[Tensors]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="epochs")

    def _request(self, tag: int) -> None:
        if tag not in self._done and tag not in self._pending and len(self._done) + len(self._pending) < self._keep:
            self._pending[tag] = self._pool.submit(self._make, tag)

    def __call__(self, epoch: int) -> Tensors:
        tag = self._tag(epoch)
        self._request(tag)
        if tag in self._pending:
            self._done[tag] = self._pending.pop(tag).result()
        data = self._done[tag] if tag in self._done else self._make(tag)  # beyond `keep`: made on demand, not kept
        self._request(self._tag(epoch + 1))
        return data

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

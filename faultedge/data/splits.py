"""Time-ordered train/test split and window sampling (the data protocol of DESIGN.md).

Each record is cut once, BEFORE windowing: the first part feeds training and validation, the
rest feeds the test set, so no test window shares a single sample with a training window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from faultedge.data.classes import CLASS_NAMES
from faultedge.data.recording import Recording
from faultedge.errors import DataError


NORMAL_LABEL = CLASS_NAMES.index("normal")


@dataclass(frozen=True)
class SplitSpec:
    """How windows are drawn; the defaults are the references' protocol."""

    window: int = 2048
    train_fraction: float = 2 / 3
    n_train: int = 500  # per class
    n_val: int = 250  # per class, drawn from the training part
    n_test: int = 250  # per class, drawn from the test part
    stride: int = 28
    # normal : fault training windows. 1 is balanced; R keeps n_train normal windows and n_train / R
    # (at least 1) per fault class, as a plant records mostly healthy data. Validation and test stay balanced.
    imbalance: float = 1.0

    def __post_init__(self) -> None:
        if not self.imbalance >= 1.0:
            raise DataError(f"imbalance: the normal : fault ratio must be at least 1, got {self.imbalance}")

    def n_train_of(self, label: int) -> int:
        """Training windows drawn for a class: n_train for the normal class, n_train / imbalance for a fault."""
        return self.n_train if label == NORMAL_LABEL else max(1, round(self.n_train / self.imbalance))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class WindowSet:
    """Raw windows with their labels and provenance (record index, absolute start sample)."""

    x: np.ndarray  # float32 (N, window), or (N, channels, window) for multi-channel records
    y: np.ndarray  # int64 (N,)
    record: np.ndarray  # int64 (N,) index into the recordings list
    start: np.ndarray  # int64 (N,) first sample of each window in its record

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray) -> "WindowSet":
        return WindowSet(self.x[mask], self.y[mask], self.record[mask], self.start[mask])


@dataclass
class Splits:
    train: WindowSet
    val: WindowSet
    test: WindowSet
    boundaries: np.ndarray  # per record: first sample index of its test part


def split_point(n_samples: int, train_fraction: float) -> int:
    return int(n_samples * train_fraction)


def window_starts(segment_len: int, n: int, spec: SplitSpec, rng: np.random.Generator, source: str) -> np.ndarray:
    """`n` distinct window starts on a stride grid with a random offset, inside one segment."""
    last = segment_len - spec.window
    if last < 0:
        raise DataError(f"{source}: segment of {segment_len} samples is shorter than one {spec.window}-sample window")
    offset = int(rng.integers(0, min(spec.stride, last + 1)))
    grid = np.arange(offset, last + 1, spec.stride)
    if grid.size < n:
        raise DataError(
            f"{source}: record too short for {n} windows of {spec.window} at stride {spec.stride} "
            f"({segment_len} samples hold only {grid.size}); lower the window count or the stride"
        )
    return np.sort(rng.choice(grid, size=n, replace=False))


def cut_windows(signal: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Windows (N, window) of a 1-D signal, or (N, channels, window) of a (channels, samples) one."""
    idx = starts[:, None] + np.arange(window)[None, :]
    return np.moveaxis(signal[..., idx], -2, 0).astype(np.float32)


def make_splits(recordings: list[Recording], spec: SplitSpec, seed: int) -> Splits:
    """Draw train/val/test windows from every record with a seeded generator."""
    rng = np.random.default_rng([seed, 0xDA7A])
    parts: dict[str, list[tuple]] = {"train": [], "val": [], "test": []}
    boundaries = []
    for i, rec in enumerate(recordings):
        length = rec.signal.shape[-1]
        cut = split_point(length, spec.train_fraction)
        boundaries.append(cut)
        n_train = spec.n_train_of(rec.label)
        starts = window_starts(cut, n_train + spec.n_val, spec, rng, rec.name)
        rng.shuffle(starts)
        test_starts = cut + window_starts(length - cut, spec.n_test, spec, rng, f"{rec.name} (test part)")
        for name, s in (("train", starts[:n_train]), ("val", starts[n_train:]), ("test", test_starts)):
            s = np.sort(s)
            parts[name].append((cut_windows(rec.signal, s, spec.window), np.full(s.size, rec.label), np.full(s.size, i), s))

    return Splits(stack_windows(parts["train"]), stack_windows(parts["val"]), stack_windows(parts["test"]), np.asarray(boundaries))


def stack_windows(items: list[tuple]) -> WindowSet:
    """One WindowSet from per-record (windows, labels, record indices, starts) tuples."""
    x, y, r, s = (np.concatenate(col) for col in zip(*items))
    return WindowSet(x, y.astype(np.int64), r.astype(np.int64), s.astype(np.int64))


def heldout_windows(recordings: list[Recording], spec: SplitSpec, seed: int) -> WindowSet:
    """Only the test part of each record: evaluation on loads or files a model never trained on."""
    return make_splits(recordings, spec, seed).test
